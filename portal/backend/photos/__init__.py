"""Photos: assets, the analysis queue, biometrics, renditions, publications; vision/ is the pure image library."""
