"""Model backends: detectors, landmarkers and embedders behind small protocols."""
