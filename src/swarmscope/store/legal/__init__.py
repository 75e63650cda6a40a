"""The legal workflow's tables: cases, ISPs, letters, notices, subscribers, purges."""
