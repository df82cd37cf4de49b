"""Trains the authors' RRCA-Net with their own code for a few epochs on CPU, evaluates the
result with their own test metrics, and saves the weights for `rrcanet import`.

This is the reference half of issue 13's end-to-end parity check: the same weights evaluated by
their test code and by `rrcanet eval` must give the same metrics.

Usage (PyTorch, torchvision, scikit-image, safetensors from PyPI; the authors' repository
github.com/yongxianLiu/RRCANet checked out anywhere, its code is not part of this repository):

    python scripts/train_authors_reference.py --authors PATH/TO/RRCANet/RRCA-Net \
        --dataset ../shared/data/sirst --split 50_50 --epochs 12 --output-prior 0.01 --out RUN

A run can be done in pieces: after every epoch it saves RUN/state.pt (model, optimizer, random
generators, losses); running the same command again with a larger --epochs continues from it.
At the end it writes RUN/weights.safetensors (`safetensors.torch.save_model`, one name per
shared RuCB tensor) and RUN/metrics.json (their mIoU, and their PD_FA at the threshold index 0, that is
logits > 0, with test batch 1 as their PD_FA requires; per-epoch training losses).

What is theirs and what is ours:
- Their loaders (`TrainSetLoader`: random flip, scale 0.5..2 of base 256, pad, crop 256,
  random blur; `TestSetLoader`: bilinear resize to 256), their ImageNet normalisation, their
  `weights_init_xavier`, `DicepolyTopK`, Adagrad at 0.05, batch 8, `drop_last=True`.
- Ours: CPU instead of `.cuda()`, a fixed seed, and `--output-prior P`, which sets the last
  conv's bias to log(P / (1 - P)) (without it their recipe predicts nothing for 28 epochs,
  see issue 15). Their loaders read images and masks with one suffix and divide masks by 255;
  our SIRST copy names masks `ID_pixels0.png` and stores them as bilevel PNGs (mode "1",
  values 0/1), so the dataset is first copied to RUN/dataset with masks rewritten as 0/255
  8-bit grey. (Without that rewrite their training sees empty targets: IoU 0.)
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_model
from torch.utils.data import DataLoader
from torchvision import transforms


def prepare_dataset(source, split, out):
    """Copies SIRST into the layout their loaders read: images/ID.png and masks/ID.png (0/255)."""
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "masks"), exist_ok=True)
    ids = {}
    for part in ("train", "test"):
        with open(os.path.join(source, split, part + ".txt")) as f:
            ids[part] = [line.strip() for line in f if line.strip()]
    for image_id in ids["train"] + ids["test"]:
        Image.open(os.path.join(source, "images", image_id + ".png")).save(
            os.path.join(out, "images", image_id + ".png"))
        mask = np.array(Image.open(os.path.join(source, "masks", image_id + "_pixels0.png")).convert("L"))
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(
            os.path.join(out, "masks", image_id + ".png"))
    return ids["train"], ids["test"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", required=True, help="their RRCA-Net/ folder (train.py, model/)")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="50_50")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--output-prior", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.authors))
    from model.loss import DicepolyTopK
    from model.metric import PD_FA, mIoU
    from model.RRCANet import RRCANet, Res_block  # their train.py's Res_block is the same class
    from model.utils import TestSetLoader, TrainSetLoader, weights_init_xavier

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    dataset_dir = os.path.join(args.out, "dataset")
    train_ids, test_ids = prepare_dataset(args.dataset, args.split, dataset_dir)

    # Their train.py: base and crop size 256 for SIRST, ImageNet normalisation.
    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize([.485, .456, .406], [.229, .224, .225])])
    train_set = TrainSetLoader(dataset_dir, img_id=train_ids, base_size=256, crop_size=256,
                               transform=transform, suffix=".png")
    test_set = TestSetLoader(dataset_dir, img_id=test_ids, base_size=256, crop_size=256,
                             transform=transform, suffix=".png")
    train_data = DataLoader(train_set, batch_size=8, shuffle=True, num_workers=0, drop_last=True)
    test_data = DataLoader(test_set, batch_size=1, num_workers=0, drop_last=False)

    # r18: their backbone 'RRCANet' (blocks 3, 2, 2, 2), two iterations, FSM, no deep supervision.
    model = RRCANet(num_classes=1, input_channels=3, block=Res_block, num_blocks=[3, 2, 2, 2],
                    iterations=2, num_layers=4, multiplier=1.0, integrate="True",
                    deep_supervision="False")
    model.apply(weights_init_xavier)
    if args.output_prior is not None:
        with torch.no_grad():
            model.final.bias.fill_(math.log(args.output_prior / (1 - args.output_prior)))
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.05)

    losses = []
    state_path = os.path.join(args.out, "state.pt")
    if os.path.exists(state_path):
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        random.setstate(state["python_random"])
        np.random.set_state(state["numpy_random"])
        torch.set_rng_state(state["torch_random"])
        losses = state["losses"]
        print(f"continuing after epoch {len(losses)}", flush=True)
    for epoch in range(len(losses), args.epochs):
        started = time.time()
        model.train()
        total, count = 0.0, 0
        for data, labels in train_data:
            loss = DicepolyTopK(model(data), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * data.shape[0]
            count += data.shape[0]
        losses.append(total / count)
        print(f"epoch {epoch + 1}: loss {total / count:.4f}, {time.time() - started:.1f} s", flush=True)
        torch.save({
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "python_random": random.getstate(),
            "numpy_random": np.random.get_state(),
            "torch_random": torch.get_rng_state(),
            "losses": losses,
        }, state_path + ".tmp")
        os.replace(state_path + ".tmp", state_path)

    # Their test.py loop, threshold index 0 of PD_FA (logits > 0), as their tables quote.
    model.eval()
    iou, pd_fa = mIoU(1), PD_FA(1, 255)
    with torch.no_grad():
        for data, labels in test_data:
            pred = model(data)
            iou.update(pred, labels)
            pd_fa.update(pred, labels)
    _, mean_iou = iou.get()
    fa, pd = pd_fa.get(len(test_ids))
    save_model(model, os.path.join(args.out, "weights.safetensors"))
    metrics = {
        "epochs": args.epochs,
        "seed": args.seed,
        "output_prior": args.output_prior,
        "training_loss": losses,
        "iou": float(mean_iou),
        "pd": float(pd[0]),
        "fa": float(fa[0]),
        "targets": int(pd_fa.target[0]),
        "detected": int(pd_fa.PD[0]),
        "false_alarm_pixels": int(pd_fa.FA[0]),
        "test_images": len(test_ids),
        "torch": torch.__version__,
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(json.dumps({k: v for k, v in metrics.items() if k != "training_loss"}))


if __name__ == "__main__":
    main()
