"""The web console: the office and every department at their own desk, in a browser (a gRPC client)."""
