// Session: warren's own session protocol (filled in by the provider work).
