"""The README's example of a model of your own with uploaded feedback images.

A complaint reply whose admin form attaches up to 4 images (``FeedbackImagesField``
next to a ``ManyToManyField``, uploads after the admin's transaction commits). It
used to be the demo app; the demo is now the complaint desk, and this code stays
here, installed by the test settings, so that the README's example keeps running.
"""
