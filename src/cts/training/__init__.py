"""Training: shared DataModule/LightningModule machinery and the run body of train.py (its reports: ``cts.reports``)."""
