"""The TLS-terminating CONNECT proxy that serves real AWS host names locally."""
