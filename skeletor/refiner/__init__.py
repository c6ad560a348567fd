"""The Skeletor refiner: a transformer that cleans windows of 3D skeletons (torch).

Jiang, Camgoz, Bowden, "Skeletor: Skeletal Transformers for Robust Body-Pose
Estimation", CVPR-W 2021. The modules:

``model``   ``RefinerConfig``, ``SkeletorRefiner`` (normalised space) and
            ``NormalisedRefiner`` (camera frame in, camera frame out).
``data``    sequence datasets, the ``.npz`` cache format, window sampling, augmentation.
``train``   ``TrainConfig`` and the training loop (checkpoints, resume, CSV log).
``export``  ONNX export with the metadata ``skeletor.refiner.runtime`` reads.

This ``__init__`` imports nothing, so ``import skeletor.refiner.data`` does not pull
torch in; ``model``, ``train`` and ``export`` do.
"""
