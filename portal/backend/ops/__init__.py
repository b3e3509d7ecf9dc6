"""Operations: opening the portal, daily jobs, the outbox and demo data."""
