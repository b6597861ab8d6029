// Policy: exit whitelist, host-LAN protection, metering (filled in by the provider work).
