"""Evaluation harnesses run by `mediamon eval ...`: the pipeline's own code on labelled sets."""
