"""Transaction classifiers (CoinJoins, shapes) and change heuristics over a columnar ChainView."""
