"""Who may use the web console: users, API tokens, sessions, login attempts and identity views."""
