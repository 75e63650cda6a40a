"""IP attribution to ASN/ISP/region (README "The legal workflow")."""
