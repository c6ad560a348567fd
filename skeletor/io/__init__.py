"""Files the tools write while they run: live recordings (``recording``)."""
