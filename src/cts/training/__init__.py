"""Training: shared DataModule/LightningModule machinery, the run body of train.py, sweep summaries."""
