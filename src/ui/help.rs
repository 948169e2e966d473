//! The Help window: what a PixelCNN is, what the costs mean, and the shortcuts.

/// The keyboard shortcuts, as shown in the Help window.
pub const SHORTCUTS: [(&str, &str); 6] = [
    (
        "Space",
        "pause or resume training (when no text field has focus)",
    ),
    ("F5", "draw a fresh grid of samples now"),
    ("Ctrl+S", "save the checkpoint"),
    ("Ctrl+O", "open a checkpoint"),
    ("Ctrl+E", "export the metrics as CSV"),
    ("F1", "show or hide this help"),
];

/// Draws the Help window while `open` is true (its close button clears it).
pub fn help_ui(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Help")
        .open(open)
        .default_width(460.0)
        .max_height(ctx.content_rect().height() * 0.8)
        .collapsible(false)
        .show(ctx, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.heading("PixelCNN");
                ui.label(
                    "A PixelCNN (van den Oord et al. 2016, arXiv 1601.06759) models an image one \
                     pixel at a time: the probability of each pixel given every pixel above it and \
                     to its left. Masked convolutions keep it from seeing the pixel it predicts \
                     (mask A, first layer) or any later pixel (mask B, the others). Samples are \
                     drawn the same way, pixel by pixel from the top left.",
                );
                ui.add_space(6.0);
                ui.heading("Plain and gated");
                ui.label(
                    "Stacked masked convolutions leave a blind spot above and to the right of \
                     the pixel they predict (the Inspector shows it). The gated PixelCNN (van \
                     den Oord et al. 2016, arXiv 1606.05328), the studio's default, splits the \
                     network into a vertical stack that sees the rows above and a horizontal \
                     stack that sees the pixels to the left, with a gate tanh(a) * sigmoid(b): \
                     no blind spot, and digits after minutes instead of hours. Conditional, it \
                     also learns which digit each image is, and the Draw choice beside the \
                     samples asks it for one digit, any digit, or one row per digit.",
                );
                ui.add_space(6.0);
                ui.heading("The costs");
                ui.label(
                    "nats/pixel: the mean binary cross-entropy per pixel, the reference recipe's \
                     number (0.693 is a coin flip). nats/image: the same times 784, the paper's \
                     negative log-likelihood (PixelCNN: 81.30 on binarized MNIST). bits/dim: \
                     nats/pixel divided by ln 2. The test cost uses one fixed binarization of the \
                     test images, so it is comparable between epochs and runs; training images \
                     are binarized afresh every time they are used.",
                );
                ui.add_space(6.0);
                ui.heading("Never losing work");
                ui.label(
                    "Every run has its own folder (File > Runs...): its checkpoint is written at \
                     every epoch end, at least every 2 minutes of training and when training \
                     stops, with every epoch's grid. A run cut short by a crash is offered for \
                     resuming at the next launch. Closing asks whether to keep this session's \
                     run (Save) or delete it (Discard). Save checkpoint as... writes a copy and \
                     asks before replacing a file.",
                );
                ui.add_space(6.0);
                ui.heading("Shortcuts");
                egui::Grid::new("help_shortcuts")
                    .num_columns(2)
                    .spacing([16.0, 4.0])
                    .show(ui, |ui| {
                        for (key, what) in SHORTCUTS {
                            ui.monospace(key);
                            ui.label(what);
                            ui.end_row();
                        }
                    });
                ui.add_space(6.0);
                ui.label(format!(
                    "PixelCNN Studio {} - MNIST by LeCun, Cortes and Burges (CC BY-SA 3.0).",
                    env!("CARGO_PKG_VERSION")
                ));
            });
        });
}
