"""The dense LeNet-300-100 that the real-MNIST tests prune, trained the same way in each."""

from ltp_tf._keras import keras

L = keras.layers


def sgd_compile(model):
  """SGD with momentum (lr 0.05), logits cross-entropy, accuracy: the tests' one recipe."""
  model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  return model


def dense_lenet300(x, y, epochs):
  """LeNet-300-100 (28x28x1 -> 300 -> 100 -> 10 logits) trained ``epochs`` epochs, batch 128."""
  model = sgd_compile(keras.Sequential(
      [keras.Input((28, 28, 1)), L.Flatten(), L.Dense(300, activation="relu"),
       L.Dense(100, activation="relu"), L.Dense(10)]))
  model.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
  return model
