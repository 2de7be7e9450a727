import numpy as np


def _randomize_bn(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([(rng.random(w.shape) + 0.5).astype(np.float32) for w in layer.get_weights()])


def test_fold_resnet_removes_bn_and_relu_and_keeps_outputs():
    from tinyml_prune import models
    from tinyml_prune.quantize.fold import fold_model, unfused_activations

    m = models.digits_resnet()
    _randomize_bn(m)
    f, log = fold_model(m)
    kinds = [type(l).__name__ for l in f.layers]
    assert "BatchNormalization" not in kinds
    assert len(log.bn) == 6
    # the two ReLUs after Add stay (Add is not a weighted layer); the rest folded
    assert kinds.count("ReLU") == 2 and len(log.activation) == 4
    assert unfused_activations(f) == []
    x = np.random.default_rng(1).random((8, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(f(x).numpy(), m(x).numpy(), rtol=1e-5, atol=1e-6)


def test_fold_keeps_zero_positions():
    from tinyml_prune import models
    from tinyml_prune.quantize.fold import fold_model

    m = models.digits_cnn()
    _randomize_bn(m)
    k = m.get_layer("pw3").get_weights()[0]
    k[..., ::3, :] = 0
    m.get_layer("pw3").set_weights([k])
    f, _ = fold_model(m)
    folded = f.get_layer("pw3").get_weights()[0]
    assert np.array_equal(folded == 0, k == 0)
