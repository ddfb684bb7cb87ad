"""Events: the EventStream type, readers and writers, binning, synthetic recordings and the DVS
emulator (:mod:`eventsim.events.emulator`, numba: imported where it is used)."""
