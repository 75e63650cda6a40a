"""IP attribution to ASN/ISP/region (issue 5)."""
