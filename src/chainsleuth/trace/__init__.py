"""Flow graph, trace policies (poison, haircut, FIFO), the trace engine and exposure."""
