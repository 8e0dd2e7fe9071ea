"""Images as signals (the paper's sections 4-5): positions (y, x) in [-1, 1]^2, values [C] in [0, 1].

io (readers) -> data (ImageDataModule) -> domain (ImageDomain: pictures, metrics, a user's files) with
visualize (pure pictures) and metrics (pure metric functions); evaluation (the sweep with the classifier and
VAE baselines of baselines/, whose weights are cached under the project's cache root).
"""
