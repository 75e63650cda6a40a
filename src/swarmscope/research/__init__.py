"""Research mode: aggregate, pseudonymised, k-suppressed statistics of proven evidence for studies."""
