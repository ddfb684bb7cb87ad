"""Events: the EventStream type, readers and writers, binning, synthetic recordings."""
