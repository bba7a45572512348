"""pixcept demo: a generated closed world of coloured shapes and a tiny CLIP trained on it."""
