"""What the comments say: sentiment, scoring, search and themes.

Files by role: ``models`` (stored sentiment and the scan marks), ``sentiment`` (the offline
model), ``scoring`` (storing scores once, finding what is still pending), ``job`` (the app's
background scorer), ``search`` (the comment list), ``themes`` (keywords per group) and
``lexicon`` (the word splitter's dictionary in mapped files), ``schemas`` and ``router`` (the
API).
"""
