"""Events: the EventStream type, readers and writers, binning, synthetic recordings and the DVS
emulator (:func:`emulate_dvs`)."""

from eventsim.events.emulator import emulate_dvs, saccade_video

__all__ = ["emulate_dvs", "saccade_video"]
