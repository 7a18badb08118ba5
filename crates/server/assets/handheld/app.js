// placeholder, replaced by the handheld app
