"""ltp_tf on Keras 3 (any backend): the math, the wrapper layer and the verbs behind ltp_tf's
public functions when they are handed a Keras 3 model."""
