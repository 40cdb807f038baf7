"""The conversation: the rules for sending, regenerating and stopping (``turns``), and the
process's reply runner that writes replies in the background (``runner``)."""
