"""The SmugMug API v2 client: HTTP with retries, the envelope and paging, and parsed records."""
