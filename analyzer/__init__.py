"""The web app: upload a recording, keep it, show the emotion the model hears in it."""
