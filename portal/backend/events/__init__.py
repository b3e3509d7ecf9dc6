"""Events: photo shoots and gatherings, the purposes they ask for and their rotatable QR codes."""
