"""Images as signals (the paper's sections 4-5): positions (y, x) in [-1, 1]^2, values [C] in [0, 1].

io (readers) -> data (ImageDataModule, load_user_image) -> context (sets S for figures) -> visualize (figures);
classifier (accuracy judge) and vae (appendix baseline) are helper networks, cached through cache.
"""
