"""RFC 3161 time-stamp tokens of sealed batches: requests, responses, offline checks."""
