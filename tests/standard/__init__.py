"""Tests of the standard plugin: losses, simple_encoder, unet."""
