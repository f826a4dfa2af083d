import { h, mount } from "../dom";
export async function projectPage(root: HTMLElement, id: number, tab: string) { mount(root, h("h1", {}, `Project ${id} ${tab}`)); return {}; }
