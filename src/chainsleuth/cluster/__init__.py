"""Address clustering: union-find kernel, runs with params and evidence, explain, evaluation."""
