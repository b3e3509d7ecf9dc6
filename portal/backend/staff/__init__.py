"""Staff: accounts, roles, sessions and the audit log."""
