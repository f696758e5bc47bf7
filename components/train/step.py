"""One replica's training step, shared by the training loop and the step-ceiling benchmark."""


def make_replica_step(model, optimizer, global_batch, epoch_sums):
    """step_fn(images, labels): forward, loss averaged over the global batch, backward, one
    optimizer update, and [loss sum, correct predictions] added to `epoch_sums`."""
    import keras
    import tensorflow as tf

    def step_fn(images, labels):
        with tf.GradientTape() as tape:
            probabilities = model(tf.cast(images, tf.float32), training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.argmax(probabilities, -1) == labels, tf.float32))
        epoch_sums.assign_add(tf.stack([tf.reduce_sum(per_example), correct]))

    return step_fn
