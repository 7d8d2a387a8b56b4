"""Clinical risk prediction (mortality, readmission, length of stay) from event sequences cut at a horizon."""
