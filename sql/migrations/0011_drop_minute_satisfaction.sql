-- minute_counts replaces it (0009, 0010).
DROP TABLE IF EXISTS minute_satisfaction;
