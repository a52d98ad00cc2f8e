"""Training: the LightningModule, losses, metrics, callbacks and loggers."""
