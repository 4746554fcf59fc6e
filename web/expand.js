// Expanding a step of the compact machine picture, on the live page (`inspect --serve`) and in the
// HTML report (inlined there): a click on a step's node, or Enter or Space on it, opens the step's
// sub-states (a <details class="step-detail"> whose <template> holds their SVG) beside the node, and
// only then puts that SVG in the page; the same again closes them and takes it out.
(() => {
  const PANEL_GAP = 12;
  const MIN_ROOM = 220;

  function panelFor(box, id) {
    for (const d of box.querySelectorAll('details.step-detail')) if (d.dataset.step === id) return d;
    return null;
  }

  /** Puts an open panel beside its node, in the coordinates of the scrolling box. */
  function place(box, node, panel) {
    const b = box.getBoundingClientRect();
    const r = node.getBoundingClientRect();
    const left = r.right - b.left + box.scrollLeft + PANEL_GAP;
    panel.style.top = `${Math.max(0, r.top - b.top + box.scrollTop)}px`;
    panel.style.left = `${left}px`;
    // a picture wider than the room right of the node is scaled down to it (not below a readable size)
    const svg = panel.querySelector(':scope > svg');
    if (!svg) return;
    svg.style.maxWidth = '';
    const room = box.clientWidth - (left - box.scrollLeft) - 2 * PANEL_GAP;
    if (svg.getBoundingClientRect().width > room && room >= MIN_ROOM) {
      svg.style.maxWidth = `${room}px`;
      svg.style.height = 'auto';
    }
  }

  /** An open panel shows its picture (taken from its template); a closed one holds none, so the page has only what it shows. */
  function fill(panel) {
    const shown = panel.querySelector(':scope > svg');
    const template = panel.querySelector(':scope > template');
    if (panel.open && !shown && template) panel.append(template.content.cloneNode(true));
    else if (!panel.open && shown) shown.remove();
  }

  function sync(box) {
    for (const node of box.querySelectorAll('svg g.node.step')) {
      const panel = panelFor(box, node.id);
      if (panel) fill(panel);
      node.setAttribute('aria-expanded', panel?.open ? 'true' : 'false');
      node.classList.toggle('expanded', Boolean(panel?.open));
      if (panel?.open) place(box, node, panel);
    }
  }

  function toggle(box, node) {
    const panel = panelFor(box, node.id);
    if (!panel) return;
    panel.open = !panel.open;
    sync(box);
  }

  /** Makes the step nodes of each `.expandable` box under root buttons; call again after replacing the picture. */
  function wire(root = document) {
    for (const box of root.querySelectorAll('.expandable')) {
      box.classList.add('js-expand');
      for (const node of box.querySelectorAll('svg g.node.step')) {
        const panel = panelFor(box, node.id);
        if (!panel) continue;
        node.setAttribute('tabindex', '0');
        node.setAttribute('role', 'button');
        node.setAttribute('aria-controls', panel.id);
        node.setAttribute(
          'aria-label',
          `${node.querySelector('text')?.textContent ?? node.id}: show or hide its states`,
        );
      }
      sync(box);
    }
  }

  /** The ids of the open steps in a box, to open them again after the picture is replaced. */
  function openSteps(box) {
    return [...box.querySelectorAll('details.step-detail[open]')].map((d) => d.dataset.step);
  }

  function reopen(box, ids) {
    for (const id of ids) {
      const panel = panelFor(box, id);
      if (panel) panel.open = true;
    }
    sync(box);
  }

  function nodeOf(ev) {
    const node = ev.target instanceof Element ? ev.target.closest('svg g.node.step') : null;
    const box = node?.closest('.expandable');
    return node && box ? { node, box } : null;
  }

  document.addEventListener('click', (ev) => {
    const hit = nodeOf(ev);
    if (hit) toggle(hit.box, hit.node);
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter' && ev.key !== ' ') return;
    const hit = nodeOf(ev);
    if (!hit) return;
    ev.preventDefault();
    toggle(hit.box, hit.node);
  });
  // a panel closed from its own summary updates its node
  document.addEventListener(
    'toggle',
    (ev) => {
      const box = ev.target instanceof Element ? ev.target.closest('.expandable') : null;
      if (box && ev.target.matches('details.step-detail')) sync(box);
    },
    true,
  );
  window.addEventListener('resize', () => {
    for (const box of document.querySelectorAll('.expandable')) sync(box);
  });

  window.ailinuxExpand = { wire, openSteps, reopen, sync };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => wire());
  else wire();
})();
