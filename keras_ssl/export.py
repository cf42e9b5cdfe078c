"""Export backbones as SavedModels and reload them."""
