"""The images evaluation's helper networks: the ResNet classifier (the accuracy judge) and the VAE completion
baseline, trained once per dataset on its train split and cached under the project's cache root."""
