"""Delivery channels behind one small port (`base.Channel`); each adapter sits at the edge.

Adapters are imported from their modules (`channels.slack`, `channels.email`, ...) so that
importing the port does not import every provider's client library.
"""
