"""Speaker-adversarial training (trainer.speaker_adversary > 0): the classifier learns gender while a
second head, fed the same pooled conv features through a gradient reversal, learns to tell the
training speakers apart (Ganin and Lempitsky, 2015, with speakers as the domains).

The head's own weights learn to guess the clip's speakers; the conv blocks receive that gradient
reversed and scaled, so they are pushed towards features from which no speaker can be guessed, while the
classifier's loss keeps what tells gender. With ~250 training voices the model otherwise learns who is
speaking (README, "Model quality"). The reversal's scale ramps from 0 to trainer.speaker_adversary over
training (Ganin's 2 / (1 + exp(-10 p)) - 1), so the head learns something before the conv blocks follow it.

`SpeakerAdversarialModel` wraps the classifier for `model.fit` only. Calling it is calling the
classifier, so evaluation, early stopping, the reports and the export see the classifier alone; the
adversary's weights are never exported (trainer/task.py exports `.classifier`).
"""
import tensorflow as tf

POOLED_FEATURES = ("time_pool", "global_avg_pool", "global_max_pool")   # trainer/model.py's pooling layers
SPEAKER_LOSS = "speaker_loss"


def reverse_gradient(x: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """The identity forward; backward, the incoming gradient times -scale."""
    @tf.custom_gradient
    def reverse(t):
        return tf.identity(t), lambda dy: -scale * dy
    return reverse(x)


def ramp(progress: tf.Tensor) -> tf.Tensor:
    """Ganin and Lempitsky's schedule: 0 at the start of training, 0.76 at 20 %, 0.99 at 50 %, then ~1."""
    return 2.0 / (1.0 + tf.exp(-10.0 * progress)) - 1.0


def pooled_features(classifier: tf.keras.Model) -> tf.Tensor:
    for name in POOLED_FEATURES:
        if any(layer.name == name for layer in classifier.layers):
            return classifier.get_layer(name).output
    raise ValueError(f"the classifier has none of the pooling layers {', '.join(POOLED_FEATURES)}")


class SpeakerAdversarialModel(tf.keras.Model):
    """Trains `classifier` with a speaker adversary; otherwise behaves as the classifier.

    Training data: (audio, (label, speaker targets [batch, buckets])) from
    trainer/input.py make_dataset(speaker_buckets=...). Evaluation data: (audio, label), as for the
    classifier alone, so the eval loss early stopping watches is the classifier's loss only."""

    def __init__(self, classifier: tf.keras.Model, scale: float, buckets: int, units: int, total_steps: int, **kwargs):
        super().__init__(name="audioclf_speaker_adversarial", **kwargs)
        self.classifier = classifier
        self.scale, self.total_steps = float(scale), max(1, int(total_steps))
        self._with_features = tf.keras.Model(classifier.input, [classifier.output, pooled_features(classifier)])
        self.speaker_head = tf.keras.Sequential([tf.keras.layers.Dense(units, activation="relu"),
                                                 tf.keras.layers.Dense(buckets)], name="speaker_head")
        self.speaker_loss = tf.keras.metrics.Mean(name=SPEAKER_LOSS)

    def call(self, inputs, training=None):
        return self.classifier(inputs, training=training)

    @property
    def metrics(self):
        return super().metrics + [self.speaker_loss]

    def reversal_scale(self) -> tf.Tensor:
        progress = tf.minimum(1.0, tf.cast(self.optimizer.iterations, tf.float32) / float(self.total_steps))
        return self.scale * ramp(progress)

    def train_step(self, data):
        audio, (labels, speakers) = data
        with tf.GradientTape() as tape:
            probabilities, features = self._with_features(audio, training=True)
            loss = self.compiled_loss(labels, probabilities, regularization_losses=self.losses)
            logits = self.speaker_head(reverse_gradient(features, self.reversal_scale()), training=True)
            per_clip = tf.nn.softmax_cross_entropy_with_logits(labels=speakers, logits=logits)
            # Averaged over the global batch, as Keras scales the classifier's loss under a distribution strategy.
            adversary = tf.nn.compute_average_loss(per_clip)
            total = loss + adversary
        self.optimizer.minimize(total, self.trainable_variables, tape=tape)
        self.compiled_metrics.update_state(labels, probabilities)
        self.speaker_loss.update_state(tf.reduce_mean(per_clip))
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        results = super().test_step(data)   # the classifier's loss and accuracy on (audio, label)
        results.pop(SPEAKER_LOSS, None)     # not measured on eval clips: their speakers are not the train split's
        return results
