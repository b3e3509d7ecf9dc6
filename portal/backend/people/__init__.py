"""People: data subjects, personal links, paper forms, kiosk, access export and erasure."""
