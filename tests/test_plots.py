import numpy as np

from ensemble.plots import confusion_matrix, confusion_matrix_image


def test_confusion_matrix_counts():
    cm = confusion_matrix([0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0], 3)
    assert cm.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]   # rows true, columns predicted


def test_confusion_matrix_image_marks_errors():
    cm = np.diag([50, 60, 70])
    cm[2, 0] = 4
    img = np.asarray(confusion_matrix_image(cm, ["a", "b", "c"], "title"))
    assert img.ndim == 3 and img.shape[2] == 3
    red = (img[..., 0] > 200) & (img[..., 1] < 120) & (img[..., 2] < 120)
    assert red.sum() > 100, "the error cell is not drawn in red"
    many = confusion_matrix_image(np.eye(47, dtype=int) * 5)   # EMNIST-sized: still renders
    assert many.size[0] > 47 * 12
