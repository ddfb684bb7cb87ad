"""Bridges to other simulators (imported on demand; nothing here is loaded by ``import eventsim``)."""
